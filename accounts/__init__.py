"""Users, sign-up and invites, tokens, profiles and avatars, follows, blocks."""
