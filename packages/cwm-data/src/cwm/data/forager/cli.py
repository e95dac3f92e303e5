import click
@click.command("forage")
def forage() -> None:
    """placeholder"""
