// Upload progress: `fetch` cannot report how much of a request body was sent, XMLHttpRequest can.
// This is a `fetch` for openapi-fetch's per-request `fetch` option, so uploads still go through the
// typed client (same paths, same auth middleware, same typed answers).
export function fetchWithProgress(onProgress: (fraction: number) => void): typeof fetch {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    // The encoded body (multipart with its boundary, which the content-type header names).
    const body = request.method === "GET" || request.method === "HEAD" ? null : await request.blob();
    return new Promise<Response>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(request.method, request.url);
      request.headers.forEach((value, key) => xhr.setRequestHeader(key, value));
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => {
        onProgress(1);
        const headers = new Headers();
        for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
          const at = line.indexOf(":");
          if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
        const text = xhr.status === 204 ? null : xhr.responseText;
        resolve(new Response(text, { status: xhr.status, statusText: xhr.statusText, headers }));
      };
      xhr.onerror = () => reject(new TypeError("the upload failed: the platform could not be reached"));
      xhr.send(body);
    });
  };
}
