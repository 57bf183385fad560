"""The host's end-to-end test boots real firmware: reuse the firmware tests' fixtures."""

from tests.firmware.conftest import make_device, source_path, umqtt_dir  # noqa: F401
