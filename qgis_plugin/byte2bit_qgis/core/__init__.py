"""The plugin's logic, free of widgets: environment checks, conversion, verification, inspection."""
