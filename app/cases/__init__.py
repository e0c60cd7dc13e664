"""Cases (案卷) and their tasks: the closed loop of intake, filing, dispatch, handling, check
and close."""
