"""The simulator channel: a JSON API and a web page to chat with Samvad without a provider."""
