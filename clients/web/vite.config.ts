import { defineConfig } from 'vite';

// Preact's JSX through esbuild: no Babel, no framework plugin (docs/design.md says why Preact).
export default defineConfig({
  esbuild: {
    jsx: 'automatic',
    jsxImportSource: 'preact',
  },
  build: {
    target: 'es2022',
    // The SDK and MQTT.js are one chunk with the app: the page needs all of it to show anything.
    chunkSizeWarningLimit: 600,
    sourcemap: true,
  },
});
