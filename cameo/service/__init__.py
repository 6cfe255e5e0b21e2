"""Business rules of cameos. Services flush, never commit.

- `lifecycle`: create with a challenge, fresh challenges, revocation (`revoke`, also for moderation)
- `recording`: the verification recording, its checks and who may read it
- `controls`: permission level, preferences, restrictions, the approved list, who may cast
- `review`: the moderators' verdict (`approve`, `reject`) and `reinstate` after an appeal
- `ledger`: the consent ledger its owner reads
- `retention`: deleting recordings after their keeping period
- `present`: the owner's view and the moderation snapshot (`cameo_snapshot`)
"""
