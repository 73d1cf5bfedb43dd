"""Task definitions: layout, reward terms, Isaac Lab configs, executors. Importing registers the gym ids."""

from .registration import all_task_ids, register_all

register_all()
