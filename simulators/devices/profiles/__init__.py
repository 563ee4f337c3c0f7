"""Virtual card profiles (JSON data, TEST ONLY keys); see simulators.devices.profile."""
