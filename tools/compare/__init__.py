"""fastbp against its CPU peers: one table, from one command.

    python tools/compare            # full run, a few minutes
    python tools/compare --quick    # about a minute, fewer repeats
    python tools/compare --markdown # the table in Markdown, for the README
    python tools/compare --skip torch,jax   # as if they were not installed
    python tools/compare --keep-blas-env    # OPENBLAS_CORETYPE/_L2_SIZE as set

Times one training step (forward, backward, plain SGD update, loss = sum of
squared errors) of fastbp, a plain NumPy implementation, PyTorch (eager) and
JAX (jit) on seven workloads, and whole epochs on two of them.  Four are the
classic sizes (tiny, small, mnist, wide); three are narrow networks on large
batches (surrogate, chain, narrow32), where neither the products nor the
per-call cost alone sets the time.  Each implementation is optional: one that
cannot be imported is skipped with a message (``pip install -e .[peers]``
installs PyTorch, JAX and threadpoolctl).

The header states what ran: the CPU (vendor, family/model), numba's LLVM
target and the vector width its code uses, and every BLAS loaded in the timed
child with its version, core type and threads (``tools/hardware.py``, called
in each child, the process that ran); whether ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` were removed from the children's environment (the
default: they force OpenBLAS's kernels, and users' machines do not set them),
kept (``--keep-blas-env``) or not set; and the gemm peak each child measured.
The table's last columns give fastbp's FLOP rate as a percent of that peak,
for the workload's dtype, at each thread count; a step of m samples counts
6 m sum(n_in n_out) FLOPs (forward 2 m sum(n_in n_out), backward twice that).

How it measures:

* Every thread count runs in a child process of its own, started with the
  thread variables (OMP/OpenBLAS/MKL/numba, XLA_FLAGS) set before anything is
  imported, ``torch.set_num_threads``, and its CPU affinity limited to that
  many CPUs (the only limit JAX obeys).  The child reports the thread counts
  the libraries actually use and the CPU time over wall time of its timed
  blocks, so a thread setting that did not take shows.  With several threads
  each timed block waits 0.15 s first (busy) for the worker threads of the
  library timed before to stop spinning.
* Before timing, every implementation takes one step from the same initial
  parameters (fastbp's), and the updated parameters are compared with a
  float64 NumPy step (``fastbp.testing``, the derivation's reference); after
  the warm-up epoch the parameters are compared with the NumPy loop's.  A
  disagreement stops the run (exit status 1).
* Compilation is never timed: every kernel, jitted function and scan is
  warmed up first, and JAX results are waited for (``block_until_ready``).
* The gemm peak: each child, before the workloads, times NumPy's ``matmul``
  (the OpenBLAS fastbp's products call) of two square 2048 x 2048 matrices in
  float32 and float64 at its thread count, the median of a few after a
  warm-up, 2 n^3 FLOPs a product.
* Within each repeat the implementations run one after another (interleaved,
  starting order rotated), each from the initial parameters (restored outside
  the timing); the table shows the median over the repeats.
* The machine's other load is measured (/proc/stat) while each cell is timed;
  cells timed while other processes kept more than 0.1 CPU busy are marked.
  ``--wait-idle SECONDS`` waits for a quiet machine before each thread count.

The modules: ``runner`` (the options, the parent process, the start of a
child), ``child`` (the child's checks and timing loop), ``peers`` (one module
per implementation), ``workloads`` (also used by ``tools/side_by_side.py``),
``checks`` (the comparison with the reference), ``peak`` (the gemm peak),
``report`` (the table and the notes), ``system`` (the machine's load,
description and versions) and ``settings`` (the modes and limits of a run).
The parent process imports nothing but the standard library (and
``tools/hardware.py``'s names, which import nothing more at the top).
"""
