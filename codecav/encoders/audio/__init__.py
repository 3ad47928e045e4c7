"""Audio driver: microphone or WAV speech -> log-mel -> ARKit mouth and jaw weights."""
