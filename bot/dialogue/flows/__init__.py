"""The flows: report, status, and the informational ones (menu, learn, family, privacy, help, emergency)."""
