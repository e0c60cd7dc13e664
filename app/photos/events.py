"""Signals other domains subscribe to, so media knows nothing of cases or sync."""

from blinker import Namespace

_signals = Namespace()

#: Sent after commit with ``photo_ids`` (list of UUIDs) and ``sha256`` when their bytes
#: have arrived and been verified.
photos_available = _signals.signal("photos-available")

#: Sent after commit with ``sha256`` when a blob's thumbnails and perceptual hash are made.
blob_processed = _signals.signal("blob-processed")
