"""Short test clips made with PyAV: a red disc moving over white (what the mock model cuts
out exactly), with a 440 Hz tone, in the containers a phone or an editor writes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def disc_frame(index: int, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.full((height, width, 3), 255, np.uint8)
    centre = width // 4 + index * 2
    frame[(yy - height // 2) ** 2 + (xx - centre) ** 2 < (height // 4) ** 2] = (200, 30, 30)
    return frame


def make_clip(
    path: Path,
    frames: int = 24,
    size: tuple[int, int] = (160, 120),
    fps: int = 12,
    audio: bool = True,
    moving: bool = True,
) -> Path:
    """An H.264 clip (AAC sound) in ``path``'s container: .mp4, .mov or .mkv."""
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = Fraction(1, fps)
        sound = out.add_stream("aac", rate=44100, layout="mono") if audio else None
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(
                disc_frame(index if moving else 0, width, height), format="rgb24"
            )
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            samples = int(44100 * frames / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts, chunk.time_base = 44100, start, Fraction(1, 44100)
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def read_back(path: Path) -> tuple[list[np.ndarray], str | None, float]:
    """The RGBA frames of a cut video (VP9's alpha through libvpx's decoder), its sound
    codec, and the sound's length in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name == "vp9":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            pictures = [
                f.to_ndarray(format="rgba") for p in container.demux(stream) for f in decoder.decode(p)
            ]
        else:
            pictures = [f.to_ndarray(format="rgba") for f in container.decode(stream)]
    seconds, codec = 0.0, None
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            codec = audio.codec_context.name
            seconds = sum(frame.samples for frame in container.decode(audio)) / audio.rate
    return pictures, codec, seconds
