"""inboxtui: a keyboard-first terminal shared inbox for social-media teams."""

__version__ = "0.1.0"
