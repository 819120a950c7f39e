"""The steps of processing one video, in the order that keeps every output whole for users:

1. probe the source (kept in `outputs.source`, so a re-run plans without downloading);
2. one ffmpeg run for the missing renditions and thumbnails (one decode for all);
3. per rendition: upload its segments in parallel, then its playlist, then record it in
   `videos.outputs`: a playlist is visible only once every segment it names exists, and a recorded
   rendition is never transcoded or uploaded again;
4. poster and clips, each recorded once uploaded;
5. the master playlist last, naming only recorded renditions.

Keys are deterministic, so a re-run after a crash overwrites unrecorded objects instead of adding
new ones. A video deleted meanwhile stops the run when it next writes the row: deletion refuses a
video being processed and holds the row's lock while it removes the objects, so the run stops before
its first upload."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from club_runtime import contract
from club_runtime.media import commands, hls, ladder, runner
from club_runtime.media.encoders import Encoder
from club_runtime.media.errors import InvalidMediaError
from club_runtime.media.probe import MediaInfo
from club_runtime.settings import Settings
from club_runtime.worker import video_store
from club_runtime.worker.errors import PermanentJobError
from club_runtime.worker.lease import Lease
from club_runtime.worker.outputs import ClipOutput, RenditionOutput, SourceInfo, VideoOutputs, VideoRequest
from club_runtime.worker.progress import Progress
from club_runtime.worker.uploads import Bucket

log = logging.getLogger(__name__)

DELETED = "the video was deleted while it was being processed"


class VideoPipeline:
    def __init__(
        self,
        *,
        settings: Settings,
        conn: psycopg.Connection[Any],
        bucket: Bucket,
        progress: Progress,
        lease: Lease,
        encoder: Callable[[], Encoder],
        video: video_store.VideoRow,
        request: VideoRequest,
        club_id: str,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.bucket = bucket
        self.progress = progress
        self.lease = lease
        self._encoder = encoder
        self.video = video
        self.video_id = str(video.id)
        self.request = request
        self.done = VideoOutputs.model_validate(video.outputs)
        # Keep the folder of outputs already recorded (the master names renditions relative to it).
        self.prefix = self.done.folder(self.video_id) or contract.video_prefix(club_id, self.video_id)
        self.done.prefix = self.prefix
        interval = request.thumbnail_interval_sec
        self.thumbnail_interval = settings.thumbnail_interval_sec if interval is None else interval  # 0: none
        self.skipped: list[str] = []

    # -- planning ---------------------------------------------------------------------------------

    def plan(self, source: MediaInfo) -> list[ladder.Rendition]:
        try:
            return ladder.plan_renditions(source, self.request.renditions or self.settings.video_renditions)
        except ValueError as exc:
            raise PermanentJobError(str(exc)) from exc

    def missing(self, plan: list[ladder.Rendition]) -> dict[str, Any]:
        clips = [i for i, c in enumerate(self.request.clips) if not self.done.has_clip(i, c)]
        return {
            "renditions": [r for r in plan if r.name not in self.done.renditions],
            "thumbnails": self.done.thumbnails is None and self.thumbnail_interval > 0,
            "poster": self.done.poster is None,
            "clips": clips,
            "master": self.done.master is None,
        }

    def _record(self) -> None:
        self.lease.check()
        if not video_store.set_outputs(
            self.conn, self.video_id, self.done.model_dump(mode="json", exclude_none=True)
        ):
            raise PermanentJobError(DELETED)

    # -- the run ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        source = self.done.source.as_media() if self.done.source else None
        todo = self.missing(self.plan(source)) if source else None
        if todo is not None and not any(todo.values()):
            log.info("every output is already uploaded; nothing to do")
            self.skipped.append("all")
            return self._finish()
        if not video_store.set_status(self.conn, self.video_id, "processing", progress=0):
            raise PermanentJobError(DELETED)
        with tempfile.TemporaryDirectory(prefix="club-video-") as tmp:
            work = Path(tmp)
            src = work / "source"
            self.progress.update(1, "download")
            try:
                size = self.bucket.download(self.video.source_key, src)
            except FileNotFoundError as exc:
                raise PermanentJobError(str(exc)) from exc
            if size == 0:
                raise PermanentJobError("the source file is empty (0 bytes)")
            self.progress.counters["bytes_read"] = self.bucket.bytes_read
            self.progress.update(4, "probe")
            try:
                source = runner.probe_media(self.settings.ffprobe_path, str(src))
            except InvalidMediaError as exc:
                raise PermanentJobError(str(exc)) from exc
            self.done.source = SourceInfo.of(source)
            plan = self.plan(source)
            todo = self.missing(plan)
            self._transcode_and_upload(src, work, source, todo["renditions"], thumbnails=todo["thumbnails"])
            if todo["poster"]:
                self._poster(src, work, source)
            for index in todo["clips"]:
                self._clip(src, work, source, plan[0], index)
        self.skipped += [
            name for name in self.done.renditions if name not in {r.name for r in todo["renditions"]}
        ]
        self._master(plan, source.has_audio)
        return self._finish()

    def _finish(self) -> dict[str, Any]:
        video_store.set_status(self.conn, self.video_id, "ready", progress=100)
        self.progress.counters.update(
            bytes_read=self.bucket.bytes_read, bytes_written=self.bucket.bytes_written
        )
        self.progress.update(100, "done")
        return {
            "video_id": self.video_id,
            "status": "ready",
            "outputs": self.done.model_dump(mode="json", exclude_none=True),
            "uploaded_objects": self.bucket.objects_written,
            "bytes_written": self.bucket.bytes_written,
            "bytes_read": self.bucket.bytes_read,
            "skipped": self.skipped,
            "timings": self.progress.timings,
        }

    def _transcode_and_upload(
        self,
        src: Path,
        work: Path,
        source: MediaInfo,
        renditions: list[ladder.Rendition],
        *,
        thumbnails: bool,
    ) -> None:
        if not renditions and not thumbnails:
            return
        out = work / "out"
        for r in renditions:
            (out / r.name).mkdir(parents=True)
        (out / "thumbnails").mkdir(parents=True)
        spec = commands.LadderSpec(
            source=src,
            out_dir=out,
            renditions=renditions,
            encoder=self._encoder(),
            has_audio=source.has_audio,
            segment_sec=self.settings.hls_segment_sec,
            thumbnail_interval_sec=self.thumbnail_interval if thumbnails else None,
            threads=self.settings.ffmpeg_threads,
        )
        log.info(
            "transcoding",
            extra={
                "renditions": [r.name for r in renditions],
                "thumbnails": thumbnails,
                "codec": spec.encoder.codec,
            },
        )
        self.progress.update(5, "transcode")
        started = time.monotonic()
        runner.run_ffmpeg(
            commands.build_ladder_args(self.settings.ffmpeg_path, spec),
            timeout_sec=self.settings.video_process_timeout_sec,
            on_progress=self.progress.span(5, 85, "transcode", source.duration_sec),
        )
        if renditions:  # a run for thumbnails alone measures no rendition
            self.progress.transcodes.append(
                {
                    "renditions": [r.name for r in renditions],
                    "encoder": spec.encoder.codec,
                    "seconds": round(time.monotonic() - started, 3),
                    "source_seconds": source.duration_sec,
                }
            )
        steps = len(renditions) + (1 if thumbnails else 0)
        if thumbnails:
            files = sorted((out / "thumbnails").iterdir())
            self.lease.check()
            self.bucket.upload_files([(f, contract.thumbnail(self.prefix, f.name)) for f in files])
            self.done.thumbnails = [contract.thumbnail(self.prefix, f.name) for f in files]
            self._record()
            self.progress.update(85 + 10 / steps, "upload")
        for n, r in enumerate(renditions, start=1 + (1 if thumbnails else 0)):
            self._upload_rendition(out / r.name, r)
            self.progress.update(85 + 10 * n / steps, "upload")

    def _upload_rendition(self, folder: Path, r: ladder.Rendition) -> None:
        playlist = folder / contract.PLAYLIST_NAME
        segments = hls.referenced_files(playlist.read_text())
        prefix = contract.rendition_prefix(self.prefix, r.name)
        self.lease.check()
        self.bucket.upload_files([(folder / name, f"{prefix}/{name}") for name in segments])
        self.lease.check()
        key = contract.rendition_playlist(self.prefix, r.name)
        self.bucket.upload_file(playlist, key)
        self.done.renditions[r.name] = RenditionOutput(
            playlist=key,
            width=r.width,
            height=r.height,
            video_bitrate_k=r.video_bitrate_k,
            audio_bitrate_k=r.audio_bitrate_k,
            segments=len(segments),
        )
        self._record()
        log.info("rendition uploaded", extra={"rendition": r.name, "segments": len(segments)})

    def _poster(self, src: Path, work: Path, source: MediaInfo) -> None:
        self.progress.update(96, "poster")
        path = work / "poster.jpg"
        runner.run_ffmpeg(
            commands.build_poster_args(
                self.settings.ffmpeg_path, src, path, duration_sec=source.duration_sec, height=source.height
            ),
            timeout_sec=self.settings.video_process_timeout_sec,
        )
        key = contract.poster(self.prefix)
        self.lease.check()
        self.bucket.upload_file(path, key)
        self.done.poster = key
        self._record()

    def _clip(self, src: Path, work: Path, source: MediaInfo, top: ladder.Rendition, index: int) -> None:
        wanted = self.request.clips[index]
        if wanted.end > source.duration_sec + source.frame_sec:
            raise PermanentJobError(
                f"clip {index} ends at {wanted.end}s, after the video's end ({source.duration_sec:.3f}s)"
            )
        self.progress.update(97, "clips")
        path = work / f"clip-{index}.mp4"
        runner.run_ffmpeg(
            commands.build_clip_args(
                self.settings.ffmpeg_path,
                src,
                path,
                commands.Clip(wanted.start, wanted.end),
                rendition=top,
                encoder=self._encoder(),
                has_audio=source.has_audio,
                threads=self.settings.ffmpeg_threads,
            ),
            timeout_sec=self.settings.video_process_timeout_sec,
        )
        key = contract.clip(self.prefix, index)
        self.lease.check()
        self.bucket.upload_file(path, key)
        self.done.clips[str(index)] = ClipOutput(key=key, start=wanted.start, end=wanted.end)
        self._record()

    def _master(self, plan: list[ladder.Rendition], has_audio: bool) -> None:
        if self.done.master is not None:
            return
        self.progress.update(99, "publish")
        uploaded = [
            self.done.renditions[r.name].as_rendition(r.name) for r in plan if r.name in self.done.renditions
        ]
        key = contract.master_playlist(self.prefix)
        self.lease.check()
        self.bucket.upload_text(key, hls.build_master_playlist(uploaded, has_audio=has_audio))
        self.done.master = key
        self._record()
