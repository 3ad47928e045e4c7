"""The SFU path: a private Janus, its HTTP client, and the CallSession API over a VideoRoom."""
