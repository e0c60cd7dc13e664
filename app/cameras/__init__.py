"""Cameras and their AI events (视频智能识别): a machine-detected problem becomes a case."""
