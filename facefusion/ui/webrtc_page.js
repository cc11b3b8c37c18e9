async (token) => {
  // The Live tab's low-latency mode: this page's camera to the server over WebRTC and the drawn frames back.
  const status = document.querySelector('#live-webrtc-status');
  const say = (text) => { if (status) { status.innerText = text; } };
  const stop = () => {
    const live = window.liveWebrtc;
    window.liveWebrtc = null;
    if (!live) { return; }
    live.pc.close();
    live.stream.getTracks().forEach((track) => track.stop());
    if (live.location) { fetch(live.location, { method: 'DELETE' }).catch(() => {}); }
  };
  if (token === '') { stop(); say('stopped'); return; }
  if (!token) { return; }
  stop();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    // No ICE server: host candidates only, so it works offline, on this machine and on a LAN.
    const pc = new RTCPeerConnection({ iceServers: [] });
    stream.getTracks().forEach((track) => pc.addTrack(track, stream));
    const video = document.querySelector('#live-webrtc-video');
    pc.ontrack = (event) => { video.srcObject = new MediaStream([event.track]); video.play().catch(() => {}); };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
      if (pc.iceGatheringState === 'complete') { done(); return; }
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { done(); } });
      setTimeout(done, 2000);
    });
    // Relative to the page, so an app served under a path prefix (a proxy, a Space) is reached too.
    const response = await fetch(new URL('live/whip?token=' + encodeURIComponent(token), document.baseURI), {
      method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    if (response.status !== 201) {
      say(await response.text());
      pc.close();
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    window.liveWebrtc = { pc, stream, location: new URL(response.headers.get('Location'), response.url).href };
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    say('connecting…');
    let frames = 0;
    let since = performance.now();
    const count = () => {
      if (!window.liveWebrtc || window.liveWebrtc.pc !== pc) { return; }
      frames += 1;
      const now = performance.now();
      if (now - since >= 1000) {
        say((frames * 1000 / (now - since)).toFixed(1) + ' frames/s received over WebRTC');
        frames = 0;
        since = now;
      }
      video.requestVideoFrameCallback(count);
    };
    video.requestVideoFrameCallback(count);
    pc.addEventListener('connectionstatechange', () => {
      if (['failed', 'closed'].includes(pc.connectionState)) { say('the live connection ended (' + pc.connectionState + ')'); }
    });
    // The server ends a connection that shows a protected person or fails a content check: it says why.
    const location = window.liveWebrtc.location;
    const watch = setInterval(async () => {
      if (!window.liveWebrtc || window.liveWebrtc.pc !== pc) { clearInterval(watch); return; }
      const answer = await fetch(location).catch(() => null);
      if (answer && answer.status === 200) {
        clearInterval(watch);
        const why = await answer.text();
        stop();
        say('the live connection ended: ' + why);
      }
    }, 2000);
  } catch (error) {
    say('the camera could not start: ' + error);
  }
}
