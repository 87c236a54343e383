"""Suite-wide settings: CPU tests of tiny tensors run fastest on one intra-op thread.

On a shared 2-core machine extra threads only add synchronisation (a tool test went from
13.6 s to 2.8 s). The environment variable reaches the subprocesses some tests start.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the environment is set for child processes)

torch.set_num_threads(1)
