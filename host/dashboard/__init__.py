"""The caseworkers' dashboard: pages, accounts and the desk that links them to the live host."""
