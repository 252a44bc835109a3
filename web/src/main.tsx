// Entry point: mounts the app.

import './styles.css';

import { render } from 'preact';

import { App } from './app/app';

const root = document.getElementById('root');
if (root) render(<App />, root);
