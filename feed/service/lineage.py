"""Remix lineage: a video's ancestors, its direct remixes, and the tree of remixes below it.

The same visibility rule as everywhere (`feed.visibility`) decides what appears; lists leave out
others' unlisted videos, which are reachable by link only. Each answer takes a fixed number of
queries however large the lineage is (recursive CTEs, then the presenter's batch).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.pagination import CursorCodec, Page
from app.security import SigningKeys
from app.storage import MediaStorage
from feed import queries
from feed.schemas import Lineage, RemixNode, RemixTree, VideoOut
from feed.service.present import VideoPresenter
from feed.visibility import viewable_video

DEFAULT_TREE_DEPTH = 3
MAX_TREE_DEPTH = 5
# A tree answer holds at most this many remixes (nearest levels first); `truncated` says so.
MAX_TREE_NODES = 500


class LineageService:
    def __init__(self, session: AsyncSession, storage: MediaStorage, keys: SigningKeys) -> None:
        self.session = session
        self.storage = storage
        self.keys = keys
        self.presenter = VideoPresenter(session, storage)

    async def lineage(self, viewer: User, video_id: str) -> Lineage:
        """Root first, ending with the direct parent; ancestors the viewer may not see are left out."""
        video = await viewable_video(self.session, viewer, video_id)
        found = await queries.ancestors(self.session, video, viewer.id)
        return Lineage(ancestors=await self.presenter.many(viewer, found))

    async def remixes(self, viewer: User, video_id: str, cursor: str | None, limit: int) -> Page[VideoOut]:
        video = await viewable_video(self.session, viewer, video_id)
        codec = CursorCodec(self.keys, f"videos:remixes:{video.id}")
        after = codec.decode_position(cursor)
        rows = await queries.remixes_page(
            self.session, parent_id=video.id, viewer_id=viewer.id, after=after, limit=limit
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = codec.encode_position(page[-1].created_at, page[-1].id) if more else None
        return Page(items=await self.presenter.many(viewer, page), next_cursor=next_cursor)

    async def tree(self, viewer: User, video_id: str, max_depth: int) -> RemixTree:
        root = await viewable_video(self.session, viewer, video_id)
        found = await queries.remix_descendants(
            self.session,
            root_id=root.id,
            viewer_id=viewer.id,
            max_depth=max_depth,
            max_nodes=MAX_TREE_NODES + 1,
        )
        truncated = len(found) > MAX_TREE_NODES
        found = found[:MAX_TREE_NODES]
        shown = await self.presenter.many(viewer, [root, *found])
        children: dict[UUID, list[RemixNode]] = {root.id: []}
        # Levels come nearest first, so every parent is placed before its children.
        for video, out in zip(found, shown[1:], strict=True):
            node = RemixNode(video=out, children=[])
            children[video.id] = node.children
            parent = video.remix_of_id
            if parent is not None and parent in children:
                children[parent].append(node)
        return RemixTree(video=shown[0], children=children[root.id], truncated=truncated)
