import Foundation
import Interpretability
import LanternCore
import Models

/// The attention-pattern page (after CircuitsVis's `attention_patterns`): pick a layer and a head;
/// hover a query token to shade every key by how much that query attends to it; the head's
/// pattern as a query × key heatmap beside thumbnails of every head of the layer. Self-contained:
/// the patterns travel in the page as JSON and a small script draws them on canvases.
extension HTMLReport {
    /// `patterns[i]` is layer `layers[i]`'s hook_pattern [heads, n, n], row-major.
    public static func attentionPatterns(tokens: [String], layers: [Int], heads: Int, patterns: [[Float]]) throws -> [String] {
        let n = tokens.count
        let data: [String: Any] = [
            "tokens": tokens, "layers": layers, "heads": heads, "n": n,
            // Four decimals are plenty for shading and keep long prompts' pages small.
            "patterns": patterns.map { $0.map { (Double($0) * 10_000).rounded() / 10_000 } },
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: data), as: UTF8.self)
            .replacingOccurrences(of: "</", with: "<\\/")
        let controls = """
        <h2>Attention patterns</h2>
        <div class="legend">Hover a token in the first line (the query) to shade each key by the attention it gets from that query; \
        click to keep it. The heatmap: rows are queries, columns keys (causal, so above the diagonal is empty); hover a cell for its value. \
        Thumbnails: every head of the layer; click one to pick it.</div>
        <div class="card">layer <select id="attLayer"></select> head <select id="attHead"></select>
        <span id="attInfo" class="legend"></span>
        <div id="attTokens" style="margin-top:8px"></div></div>
        <div class="side"><div><canvas id="attMap"></canvas></div><div id="attThumbs"></div></div>
        """
        let script = """
        <script>
        const A=\(json);
        const L=document.getElementById('attLayer'),H=document.getElementById('attHead'),T=document.getElementById('attTokens');
        const info=document.getElementById('attInfo'),map=document.getElementById('attMap'),thumbs=document.getElementById('attThumbs');
        A.layers.forEach((l,i)=>L.add(new Option(l,i)));for(let h=0;h<A.heads;h++)H.add(new Option(h,h));
        let locked=null;
        const at=(li,h,q,k)=>A.patterns[li][(h*A.n+q)*A.n+k];
        const shade=v=>`hsl(215,75%,${Math.round(100-58*Math.min(1,Math.max(0,v)))}%)`;
        const spans=A.tokens.map((t,i)=>{const s=document.createElement('span');s.className='tok';s.textContent=t;
          s.onmouseenter=()=>{if(locked===null)showQuery(i)};s.onclick=()=>{locked=locked===i?null:i;showQuery(i)};T.appendChild(s);return s});
        function showQuery(q){const li=+L.value,h=+H.value;
          spans.forEach((s,k)=>{const v=k<=q?at(li,h,q,k):0;s.style.background=k===q?'#fff1b8':shade(v);s.style.color=v>0.55&&k!==q?'#fff':'#111';
            s.title=k<=q?`${(v*100).toFixed(2)}% from "${A.tokens[q]}"`:''});
          let best=0;for(let k=1;k<=q;k++)if(at(li,h,q,k)>at(li,h,q,best))best=k;
          info.textContent=` · query ${q} "${A.tokens[q]}" attends most to ${best} "${A.tokens[best]}" (${(at(li,h,q,best)*100).toFixed(1)}%)`+(locked!==null?' (locked)':'')}
        function draw(canvas,li,h,size){const c=Math.max(1,Math.floor(size/A.n));canvas.width=canvas.height=c*A.n;
          const g=canvas.getContext('2d');for(let q=0;q<A.n;q++)for(let k=0;k<A.n;k++){g.fillStyle=k<=q?shade(at(li,h,q,k)):'#f3f3f3';g.fillRect(k*c,q*c,c,c)}return c}
        let cell=1;
        function render(){const li=+L.value,h=+H.value;cell=draw(map,li,h,Math.min(560,Math.max(160,A.n*28)));
          thumbs.innerHTML='';for(let hh=0;hh<A.heads;hh++){const d=document.createElement('div');d.style.display='inline-block';d.style.margin='4px';d.style.textAlign='center';
            const cv=document.createElement('canvas');draw(cv,li,hh,120);cv.style.border=hh===h?'2px solid #b03a00':'1px solid #ccc';cv.style.cursor='pointer';
            cv.onclick=()=>{H.value=hh;render()};d.appendChild(cv);d.appendChild(document.createElement('br'));d.appendChild(document.createTextNode('head '+hh));thumbs.appendChild(d)}
          showQuery(locked!==null?locked:A.n-1)}
        map.onmousemove=ev=>{const r=map.getBoundingClientRect(),k=Math.floor((ev.clientX-r.left)/cell),q=Math.floor((ev.clientY-r.top)/cell);
          if(q<0||k<0||q>=A.n||k>=A.n)return;const li=+L.value,h=+H.value;
          tip.textContent=`layer ${A.layers[li]} head ${h}\\nquery ${q} "${A.tokens[q]}" → key ${k} "${A.tokens[k]}"\\n${k<=q?(at(li,h,q,k)*100).toFixed(2)+'%':'masked'}`;
          tip.style.display='block';tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px';if(locked===null&&q<A.n)showQuery(q)};
        map.onmouseleave=()=>tip.style.display='none';
        L.onchange=render;H.onchange=render;render();
        </script>
        """
        return [controls, script]
    }
}
