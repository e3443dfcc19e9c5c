"""streamgan's command line and orchestration: `streamgan preprocess|train|generate|run|inspect|demo`."""
