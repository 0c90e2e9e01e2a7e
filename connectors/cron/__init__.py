"""The cron connector: functions annotated ``topic: cron-function`` run on their ``schedule``."""
