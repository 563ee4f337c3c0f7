"""Virtual card profiles (JSON data, TEST ONLY keys); see hal.sim.profile."""
