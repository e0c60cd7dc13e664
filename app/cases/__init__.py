"""Cases (案卷): the closed loop of intake, filing, dispatch, handling, check and close."""
