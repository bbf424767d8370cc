"""The stack config: model (pydantic), problems, rules per mode, the resolved plan, loading."""
