// Parses Mermaid flowcharts with Mermaid's own parser, as TestGraphMermaidParses
// asks: node check.mjs graphs.json, where graphs.json is a JSON array of
// diagram texts. Prints a JSON array with, for each diagram, the parser's
// error (null when it parsed) and the text each node shows, as a browser
// would show it (entities decoded, markup taken as markup): the part before
// the first <br> of every node's label.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

// Mermaid sanitizes labels with DOMPurify, which needs a window.
const { window } = new JSDOM('');
globalThis.window = window;
const mermaid = (await import('mermaid')).default;

const graphs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = [];
for (const text of graphs) {
  try {
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const labels = {};
    for (const [id, v] of diagram.db.getVertices()) {
      // Mermaid's decodeEntities, then the browser's HTML parsing.
      const html = v.text.replace(/ﬂ°°/g, '&#').replace(/ﬂ°/g, '&').replace(/¶ß/g, ';');
      const div = window.document.createElement('div');
      div.innerHTML = html;
      let shown = '';
      for (const node of div.childNodes) {
        if (node.nodeName === 'BR') break;
        shown += node.textContent;
      }
      labels[id] = shown;
    }
    results.push({ error: null, labels, edges: diagram.db.getEdges().length });
  } catch (e) {
    results.push({ error: String(e && e.message || e), labels: null, edges: 0 });
  }
}
process.stdout.write(JSON.stringify(results));
