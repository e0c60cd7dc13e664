"""The city's periodic work, run once per due time whichever app servers start it."""
