"""Signaling: the WebSocket server, its client, its messages and HMAC join tokens."""
