"""Session setup for cwm-serve's tests."""

import torch

# The models here are tiny: one thread is fastest, and on a shared 2-core machine
# two threads spin against other processes (10x slower under load).
torch.set_num_threads(1)
