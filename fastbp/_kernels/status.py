"""Status codes the compiled calls return; the Python layer turns them into exceptions.

On any status but OK the call has written nothing the user can see: the
parameters and the optimizer state are as they were.
"""
OK = 0
BAD_LOSS = 1       # the loss is NaN or infinite
BAD_GRADIENT = 2   # the gradient is not finite
BAD_STEP = 3       # the update would make a parameter non-finite
BAD_INPUT = 4      # X holds NaN or infinity
BAD_TARGET = 5     # T holds NaN or infinity
BAD_LABEL = 6      # a class label lies outside [0, n_classes)
BAD_SHAPE = 7      # X or T has the wrong shape (only arrays of the fast path)
BAD_LAYOUT = 8     # X, T or labels not C-ordered as their type says (only
                   # train_step's direct calls pass such arrays; it then takes
                   # the full way, views.c_ordered)
