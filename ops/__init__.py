"""Operations of the whole installation, owned by no product app: getting a laptop ready for
`make run` (`prepare_demo`) and checking that a worker answers (`celery_ping` and its task)."""
