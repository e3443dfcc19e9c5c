"""Small pieces every part of streamgan shares: option declarations, user errors, atomic files,
and the log capture that keeps framework chatter off the console. Imports nothing heavy."""
