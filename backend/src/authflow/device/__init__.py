"""Known devices: which browsers and clients a user has signed in from."""
