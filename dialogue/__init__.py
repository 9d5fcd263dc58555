"""The dialogue engine: knowledge base, language detection, matching, conversation state."""
