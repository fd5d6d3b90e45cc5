"""Videos in and out, frame by frame, through PyAV (FFmpeg in the wheel: nothing to install).

A video is read as a stream of upright RGB frames with their timestamps, and written back
as one of four outputs, its audio kept where the container can hold it:

- ``webm``: VP9 with alpha (the web's format), audio as Opus;
- ``mov``: ProRes 4444 with alpha (editors'), audio copied (AAC, PCM…) or as AAC;
- ``mp4``: H.264 over a colour or a background (no alpha), audio copied or as AAC;
- ``zip``: a PNG per frame (no audio).

Frames are streamed: memory is one frame and the encoder's own state, whatever the clip's
length. Only the containers a phone or an editor writes are opened (mov/mp4/webm/mkv): the
rest of FFmpeg's demuxers (HLS playlists, concat lists, image sequences) would open other
files on the server.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from wizpix.core.errors import BadInput, TooLarge
from wizpix.image.encode import encode_png

DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm"
FORMATS = ("webm", "mov", "mp4", "zip")
MEDIA = {"webm": "video/webm", "mov": "video/quicktime", "mp4": "video/mp4", "zip": "application/zip"}
VIDEO = {
    # realtime, cpu-used 6: twice the speed of "good" for a larger file (research run)
    "webm": (
        "libvpx-vp9",
        "yuva420p",
        {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "6", "row-mt": "1"},
    ),
    "mov": ("prores_aw", "yuva444p10le", {"profile": "4"}),  # 4444; prores_aw: 3-4× prores_ks' speed
    "mp4": ("libx264", "yuv420p", {"crf": "20", "preset": "veryfast"}),
}
AUDIO_KEPT = {
    "webm": {"opus", "vorbis"},
    "mov": {"aac", "mp3", "alac", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    "mp4": {"aac", "mp3", "alac", "opus"},
}
AUDIO_MADE = {"webm": "libopus", "mov": "aac", "mp4": "aac"}


@dataclass(frozen=True)
class VideoLimits:
    max_seconds: float
    max_frame_pixels: int
    max_frames: int


@dataclass(frozen=True)
class Probe:
    width: int
    height: int
    seconds: float | None
    rate: Fraction
    frames: int  # as the header says, or estimated from the duration
    audio: str | None  # the audio codec, when there is a sound track


def _opened(path: Path) -> Any:
    try:
        return av.open(str(path), options={"format_whitelist": DEMUXERS})
    except av.FFmpegError as error:
        raise BadInput(
            "not_a_video", f"the upload is not a video WizPix reads (MP4, MOV, WebM, MKV): {error}"
        ) from None


def probe(path: Path, limits: VideoLimits) -> Probe:
    """What the header says, checked against the limits before a frame is decoded."""
    with _opened(path) as container:
        if not container.streams.video:
            raise BadInput("not_a_video", "the file has no video track")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        seconds = container.duration / av.time_base if container.duration else None
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        frames = stream.frames or (math.ceil(seconds * float(rate)) if seconds else 0)
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    if not width or not height:
        raise BadInput("corrupt_video", "the video track has no frame size")
    if width * height > limits.max_frame_pixels:
        raise TooLarge(
            "video_too_large",
            f"frames of {width}×{height}; the limit is {limits.max_frame_pixels} pixels",
        )
    if seconds is not None and seconds > limits.max_seconds:
        raise TooLarge(
            "video_too_long", f"the video lasts {seconds:.1f} s; the limit is {limits.max_seconds:g} s"
        )
    if frames > limits.max_frames:
        raise TooLarge(
            "too_many_frames", f"the video has about {frames} frames; the limit is {limits.max_frames}"
        )
    return Probe(width, height, seconds, Fraction(rate), frames, audio)


@dataclass
class Frame:
    picture: Image.Image  # upright RGB
    pts: int | None
    time_base: Fraction


def frames(path: Path, limits: VideoLimits) -> Iterator[Frame]:
    """The video's frames, upright (a phone's rotation applied), one at a time; a file that
    stops decoding part-way is a 400 that says where."""
    count = 0
    last_seconds = 0.0
    with _opened(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        declared = container.duration / av.time_base if container.duration else None
        try:
            for frame in container.decode(stream):
                count += 1
                if count > limits.max_frames:
                    raise TooLarge("too_many_frames", f"the video has more than {limits.max_frames} frames")
                array = frame.to_ndarray(format="rgb24")
                if turns := round(frame.rotation / 90) % 4:  # the display matrix: counter-clockwise
                    array = np.ascontiguousarray(np.rot90(array, turns))
                if frame.pts is not None:
                    last_seconds = float(frame.pts * stream.time_base)
                yield Frame(Image.fromarray(array, "RGB"), frame.pts, stream.time_base)
        except av.FFmpegError as error:
            raise BadInput("corrupt_video", f"decoding stopped after {count} frames: {error}") from None
    if count == 0:
        raise BadInput("corrupt_video", "no frame of the video could be decoded")
    if declared and last_seconds < 0.8 * declared - 1:  # a WebM or MKV cut short decodes without an error
        raise BadInput(
            "truncated_video",
            f"the video stops at {last_seconds:.1f} s of the {declared:.1f} s its header declares",
        )


class VideoWriter:
    """One output, written as the frames come: RGBA frames in (cutouts, or masks as L)."""

    def __init__(self, target: Path, fmt: str, source: Path, size: tuple[int, int], rate: Fraction) -> None:
        if fmt not in FORMATS:
            raise BadInput(
                "invalid_request", f"format: a video is written as {', '.join(FORMATS)}", status=422
            )
        self.fmt, self.size, self.rate = fmt, size, rate
        self.count = 0
        self._zip = zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) if fmt == "zip" else None
        if self._zip is not None:
            return
        width, height = size
        if fmt == "mp4":  # H.264 in 4:2:0 takes even sides only: a pixel less where one is odd
            width, height = width - width % 2, height - height % 2
            self.size = width, height
        codec, pix_fmt, options = VIDEO[fmt]
        self.out = av.open(str(target), "w", options={"movflags": "+faststart"} if fmt != "webm" else {})
        self.video = self.out.add_stream(codec, rate=rate, options=options)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, pix_fmt
        context = self.video.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709, as players assume
        context.color_range = 1
        self.time_base = Fraction(1, 1000)  # our own: the muxer rewrites the stream's after its first packet
        context.time_base = self.time_base
        self._source = source
        self.audio_in = self.audio_out = None
        self._copy_audio = False

    def add_audio(self, codec: str | None) -> None:
        """Keep the source's sound: copied when the container takes its codec, else made again."""
        if self._zip is not None or codec is None:
            return
        self.audio_source = _opened(self._source)
        self.audio_in = self.audio_source.streams.audio[0]
        self._copy_audio = codec in AUDIO_KEPT[self.fmt]
        if self._copy_audio:
            self.audio_out = self.out.add_stream_from_template(self.audio_in)
        else:
            rate = 48000 if self.fmt == "webm" else self.audio_in.rate
            self.audio_out = self.out.add_stream(
                AUDIO_MADE[self.fmt], rate=rate, layout=self.audio_in.layout.name
            )
        self._packets = self.audio_source.demux(self.audio_in)
        self._pending = None  # a packet read ahead of the pictures written so far

    def write(self, picture: Image.Image, seconds: float) -> None:
        self.count += 1
        if self._zip is not None:
            self._zip.writestr(f"frame-{self.count:06d}.png", encode_png(picture))
            return
        if picture.size != self.size:
            picture = picture.resize(self.size, Image.Resampling.LANCZOS)
        if self.fmt == "mp4":
            frame = av.VideoFrame.from_ndarray(np.asarray(picture.convert("RGB")), format="rgb24")
        else:
            frame = av.VideoFrame.from_ndarray(np.asarray(picture.convert("RGBA")), format="rgba")
        frame = frame.reformat(format=self.video.pix_fmt, dst_colorspace="ITU709")
        frame.colorspace, frame.color_range = 1, 1
        frame.pts, frame.time_base = round(seconds * 1000), self.time_base
        for packet in self.video.encode(frame):
            self.out.mux(packet)
        self._audio_until(seconds)

    def _audio_until(self, seconds: float | None) -> None:
        """The sound up to ``seconds`` (all of it when None), interleaved with the pictures so
        that the muxer holds nothing back: memory stays one packet, whatever the length."""
        if self.audio_in is None:
            return
        try:
            while True:
                packet = self._pending or next(self._packets, None)
                self._pending = None
                if packet is None:
                    break
                if (
                    seconds is not None
                    and packet.pts is not None
                    and packet.pts * self.audio_in.time_base > seconds
                ):
                    self._pending = packet
                    break
                self._mux_audio(packet)
            if seconds is None and not self._copy_audio:
                for made in self.audio_out.encode(None):
                    self.out.mux(made)
        except av.FFmpegError as error:
            raise BadInput("corrupt_video", f"the sound track cannot be read: {error}") from None

    def _mux_audio(self, packet: Any) -> None:
        if self._copy_audio:
            if packet.dts is not None:  # the demuxer's last, empty packet
                packet.stream = self.audio_out
                self.out.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # re-timed by the encoder's own resampler
            for made in self.audio_out.encode(frame):
                self.out.mux(made)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            return
        for packet in self.video.encode(None):
            self.out.mux(packet)
        self._audio_until(None)
        self.out.close()
        if self.audio_in is not None:
            self.audio_source.close()
