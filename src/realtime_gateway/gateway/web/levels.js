// Audio levels of a MediaStream through a WebAudio analyser: RMS and peak, 0..1 of full scale.

export class LevelProbe {
  constructor(audioContext, stream) {
    this.source = audioContext.createMediaStreamSource(stream);
    this.analyser = audioContext.createAnalyser();
    this.analyser.fftSize = 2048;
    this.buffer = new Float32Array(this.analyser.fftSize);
    // Analysis only: nothing is routed to the speakers from here.
    this.source.connect(this.analyser);
  }

  read() {
    this.analyser.getFloatTimeDomainData(this.buffer);
    let sum = 0;
    let peak = 0;
    for (const sample of this.buffer) {
      sum += sample * sample;
      const magnitude = Math.abs(sample);
      if (magnitude > peak) peak = magnitude;
    }
    return { rms: Math.sqrt(sum / this.buffer.length), peak };
  }

  disconnect() {
    this.source.disconnect();
    this.analyser.disconnect();
  }
}
