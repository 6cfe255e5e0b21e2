"""The feed benchmark (`make bench`): a synthetic data set, warmed inboxes and an HTTP load driver.
Not part of the app: nothing in the app packages imports it."""
