"""Staff-scheduled messages: model, store, resolver and dispatcher."""
