// Entry point: mounts the app.

import './styles.css';

import { render } from 'preact';

import { App } from './app/app';
import { prewarmLayoutWorker } from './features/graph/layout/layout-client';

// The worker's script loads while the first view is being fetched.
prewarmLayoutWorker();
const root = document.getElementById('root');
if (root) render(<App />, root);
