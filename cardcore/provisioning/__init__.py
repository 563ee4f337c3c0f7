"""Terminal provisioning: activation (runreset/reset), configuration updates
from the terminal-management server and master-key loading (issue 8)."""
