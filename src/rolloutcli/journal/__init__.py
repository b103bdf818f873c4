"""Decision records (what the tool did and why), notifications, who is acting."""
