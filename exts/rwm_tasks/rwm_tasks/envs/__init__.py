"""Task definitions: layout, reward terms, Isaac Lab configs, executors."""
