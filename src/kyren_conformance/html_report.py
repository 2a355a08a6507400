"""pytest-html hooks: the sign-off report (issue 4). Registered by the plugin when pytest-html is active."""
