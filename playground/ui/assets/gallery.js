export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let grid = parentElement.querySelector(".pg-gallery");
  if (!grid) {
    grid = document.createElement("div");
    grid.className = "pg-gallery";
    parentElement.appendChild(grid);
    grid.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-name]");
      if (b) setTriggerValue("picked", b.dataset.name);
    });
  }
  const sig = data.items.map((i) => i.name).join(",") + "|" + data.selected;
  if (grid.dataset.sig === sig) return;
  grid.dataset.sig = sig;
  grid.replaceChildren(...data.items.map((item) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.name = item.name;
    b.title = item.title;
    b.setAttribute("aria-pressed", String(item.name === data.selected));
    b.setAttribute("aria-label", "Train on " + item.name);
    const img = document.createElement("img");
    img.src = item.src; img.alt = item.name; img.style.cssText = data.checker;
    const label = document.createElement("span");
    label.textContent = item.name;
    b.append(img, label);
    return b;
  }));
}
