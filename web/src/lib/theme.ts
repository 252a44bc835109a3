// Light and dark themes: the choice is remembered per browser, defaulting to
// the system preference, and applied as data-theme on <html> for the CSS.

import { useEffect, useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';

const STORAGE_KEY = 'periscope.theme';

function initialTheme(): Theme {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === 'light' || stored === 'dark') return stored;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const toggle = () => {
    setTheme((current) => {
      const next = current === 'dark' ? 'light' : 'dark';
      localStorage.setItem(STORAGE_KEY, next);
      return next;
    });
  };
  return [theme, toggle];
}

/** Colours the canvas renderer needs as values (it cannot read CSS variables). */
export interface Palette {
  background: string;
  text: string;
  textMuted: string;
  nodeFill: string;
  nodeBorder: string;
  pseudoFill: string;
  edge: string;
  accent: string;
  match: string;
  /** Fill of the chosen metric (CPU or memory) inside nodes. */
  metric: string;
  /** Background of stopped (exited, dead, created) containers. */
  stoppedFill: string;
  warning: string;
  danger: string;
}

export const PALETTES: Record<Theme, Palette> = {
  light: {
    background: '#f7f8fa',
    text: '#1d2330',
    textMuted: '#677089',
    nodeFill: '#dfe7f5',
    nodeBorder: '#4a6fa5',
    pseudoFill: '#eceff3',
    edge: '#9aa5b8',
    accent: '#e0662b',
    match: '#1f9d55',
    metric: '#7fb3e8',
    stoppedFill: '#d3d6dc',
    warning: '#c98a00',
    danger: '#c62f2f',
  },
  dark: {
    background: '#15181e',
    text: '#e6e9ef',
    textMuted: '#8d96a8',
    nodeFill: '#2a3446',
    nodeBorder: '#7fa6e0',
    pseudoFill: '#252a33',
    edge: '#5d6678',
    accent: '#ff8a4c',
    match: '#4cd389',
    metric: '#3f6fa8',
    stoppedFill: '#3a3d44',
    warning: '#f0b429',
    danger: '#ff6b6b',
  },
};
