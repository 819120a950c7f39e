"""Video media handling: ffprobe parsing, the HLS ladder plan, pure ffmpeg argument builders, and
`runner`, the one module that starts ffmpeg and ffprobe processes."""
